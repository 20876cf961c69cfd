// linkleaf's dashboard, enhanced: everything works without this file (forms post, then the
// server redirects). With it: links reorder by dragging (SortableJS, vendored, in its fallback
// mode: pointer and touch alike), the new order posted as the form "order" would be; a file
// chosen for an import fills the text field.
(function () {
  'use strict';
  var list = document.getElementById('links');
  if (list && window.Sortable) {
    window.Sortable.create(list, {
      handle: '.grip',
      animation: 120,
      forceFallback: true,
      onEnd: function (e) {
        if (e.oldIndex === e.newIndex) return;
        var form = document.createElement('form');
        form.method = 'post';
        form.action = list.getAttribute('data-order');
        form.hidden = true;
        var add = function (name, value) {
          var input = document.createElement('input');
          input.type = 'hidden';
          input.name = name;
          input.value = value;
          form.appendChild(input);
        };
        add('version', list.getAttribute('data-version'));
        list.querySelectorAll('li[data-id]').forEach(function (li) {
          add('id', li.getAttribute('data-id'));
        });
        document.body.appendChild(form);
        form.submit();
      },
    });
  }
  var file = document.getElementById('import-file');
  var text = document.getElementById('import-text');
  if (file && text) {
    file.hidden = false;
    var label = document.querySelector('label[for=import-file]');
    if (label) label.hidden = false;
    file.addEventListener('change', function () {
      var f = file.files && file.files[0];
      if (!f) return;
      f.text().then(function (t) {
        text.value = t;
      });
    });
  }
})();

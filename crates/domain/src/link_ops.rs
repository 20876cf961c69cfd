//! The body of `PATCH /api/profiles/{profile}/links`: a list of operations applied in order,
//! all or nothing.
//!
//! `apply` is pure: it takes the current links and returns the new list with positions
//! renumbered 0..n, or every error found, each named `ops[i].field`. An operation that is well
//! formed but does not fit the current links (an id this profile does not have, a position past
//! the end, a reorder that leaves links out, more than 100 links) is a conflict; a bad title or
//! URL, or an id listed twice in a reorder, is invalid whatever the state.
//! Must not: touch storage, or leave positions other than 0..n.

use crate::error::{FieldError, ValidationErrors};
use crate::profile::{Link, MAX_LINKS, NewLink};
use crate::{text, url};
use serde::Deserialize;

use std::collections::HashSet;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most operations one request may carry.
pub const MAX_OPS: usize = 200;

/// One change to a profile's links.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum LinkOp {
    /// Adds a link, at `position` (0 = first) or at the end.
    Add {
        #[schema(min_length = 1, max_length = 100, pattern = "@title")]
        title: String,
        #[schema(min_length = 1, max_length = 2048, pattern = "@link-url")]
        url: String,
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(default, deserialize_with = "whole_opt")]
        position: Option<u32>,
        /// Shown from this time on (RFC 3339 with its offset).
        #[serde(default, rename = "visibleFrom")]
        #[schema(value_type = Option<String>, format = DateTime)]
        visible_from: Option<String>,
        /// Shown until this time, exclusive; later than `visibleFrom`.
        #[serde(default, rename = "visibleUntil")]
        #[schema(value_type = Option<String>, format = DateTime)]
        visible_until: Option<String>,
    },
    /// Changes any of a link's title, URL, enabled flag and window (`null` clears an end of
    /// the window; absent leaves it).
    Edit {
        id: Uuid,
        #[serde(default)]
        #[schema(min_length = 1, max_length = 100, pattern = "@title")]
        title: Option<String>,
        #[serde(default)]
        #[schema(min_length = 1, max_length = 2048, pattern = "@link-url")]
        url: Option<String>,
        #[serde(default)]
        enabled: Option<bool>,
        /// Shown from this time on (RFC 3339 with its offset); `null`: from now.
        #[serde(default, rename = "visibleFrom", deserialize_with = "set_or_clear")]
        #[schema(value_type = Option<String>, format = DateTime, nullable)]
        visible_from: Option<Option<String>>,
        /// Shown until this time, exclusive; `null`: for good.
        #[serde(default, rename = "visibleUntil", deserialize_with = "set_or_clear")]
        #[schema(value_type = Option<String>, format = DateTime, nullable)]
        visible_until: Option<Option<String>>,
    },
    /// Moves one link to `position`.
    Move {
        id: Uuid,
        #[serde(deserialize_with = "whole")]
        position: u32,
    },
    /// Puts every link in the order given; `ids` must name each link exactly once.
    Reorder {
        /// (`uniqueItems` in the description.)
        ids: Vec<Uuid>,
    },
    Enable {
        id: Uuid,
    },
    Disable {
        id: Uuid,
    },
    Remove {
        id: Uuid,
    },
}

/// The body of `PATCH /api/profiles/{profile}/links`: operations applied in order, all or none.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"ops": [
    {"op": "add", "title": "New talk", "url": "https://talks.example/1", "position": 0},
    {"op": "add", "title": "Newsletter", "url": "https://news.example/subscribe"}
]}))]
pub struct LinksPatch {
    #[schema(min_items = 1, max_items = 200)]
    pub ops: Vec<LinkOp>,
}

/// A position: a JSON integer, also when written with a zero fraction (`5.0`), which JSON Schema
/// counts as an integer too.
struct Whole(u32);

impl<'de> serde::Deserialize<'de> for Whole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Whole;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number from 0 to 4294967295")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Whole, E> {
                u32::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Whole, E> {
                u32::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Whole, E> {
                if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                    Ok(Whole(v as u32))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Whole::deserialize(d).map(|w| w.0)
}

fn whole_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<Whole>::deserialize(d).map(|o| o.map(|w| w.0))
}

/// A field that may be cleared: absent (the default) leaves it, `null` clears it.
fn set_or_clear<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn find(links: &[Link], id: Uuid) -> Result<usize, FieldError> {
    links
        .iter()
        .position(|l| l.id == id)
        .ok_or_else(|| FieldError::conflict("id", format!("no link {id} on this profile")))
}

fn apply_one(links: &mut Vec<Link>, op: &LinkOp) -> Result<(), ValidationErrors> {
    match op {
        LinkOp::Add {
            title,
            url,
            enabled,
            position,
            visible_from,
            visible_until,
        } => {
            let at = position.map_or(links.len(), |p| p as usize);
            if at > links.len() {
                return Err(FieldError::conflict(
                    "position",
                    format!("must be between 0 and {}", links.len()),
                )
                .into());
            }
            let new = NewLink {
                title: title.clone(),
                url: url.clone(),
                enabled: *enabled,
                visible_from: visible_from.clone(),
                visible_until: visible_until.clone(),
            };
            links.insert(at, new.into_link(0)?);
        }
        LinkOp::Edit {
            id,
            title,
            url: u,
            enabled,
            visible_from,
            visible_until,
        } => {
            let i = find(links, *id)?;
            let mut errs = ValidationErrors::default();
            let title = title.as_deref().map(text::link_title).transpose();
            let u = u.as_deref().map(url::link_url).transpose();
            let (title, u) = (errs.check(title), errs.check(u));
            let time = |errs: &mut ValidationErrors, v: &Option<Option<String>>, field, old| match v
            {
                None => old,
                Some(None) => None,
                Some(Some(t)) => errs.check(crate::schedule::parse_time(t, field)),
            };
            let from = time(
                &mut errs,
                visible_from,
                "visibleFrom",
                links[i].visible_from,
            );
            let until = time(
                &mut errs,
                visible_until,
                "visibleUntil",
                links[i].visible_until,
            );
            errs.check(crate::schedule::check_window(from, until));
            if !errs.is_empty() {
                return Err(errs);
            }
            let l = &mut links[i];
            l.visible_from = from;
            l.visible_until = until;
            if let Some(Some(t)) = title {
                l.title = t;
            }
            if let Some(Some(u)) = u {
                l.url = u;
            }
            if let Some(e) = enabled {
                l.enabled = *e;
            }
        }
        LinkOp::Move { id, position } => {
            let i = find(links, *id)?;
            let to = *position as usize;
            if to >= links.len() {
                return Err(FieldError::conflict(
                    "position",
                    format!("must be between 0 and {}", links.len() - 1),
                )
                .into());
            }
            let l = links.remove(i);
            links.insert(to, l);
        }
        LinkOp::Reorder { ids } => {
            let mut seen = HashSet::with_capacity(ids.len());
            let mut errs = ValidationErrors::default();
            for (k, id) in ids.iter().enumerate() {
                if !seen.insert(*id) {
                    errs.push(FieldError::new(
                        format!("ids[{k}]"),
                        format!("{id} is listed twice"),
                    ));
                } else if !links.iter().any(|l| l.id == *id) {
                    errs.push(FieldError::conflict(
                        format!("ids[{k}]"),
                        format!("no link {id} on this profile"),
                    ));
                }
            }
            let missing = links.iter().filter(|l| !seen.contains(&l.id)).count();
            if missing > 0 {
                errs.push(FieldError::conflict(
                    "ids",
                    format!("must list every link; {missing} missing"),
                ));
            }
            if !errs.is_empty() {
                return Err(errs);
            }
            let mut reordered = Vec::with_capacity(links.len());
            for id in ids {
                let i = links
                    .iter()
                    .position(|l| l.id == *id)
                    .expect("checked above");
                reordered.push(links.swap_remove(i));
            }
            *links = reordered;
        }
        LinkOp::Enable { id } => {
            let i = find(links, *id)?;
            links[i].enabled = true;
        }
        LinkOp::Disable { id } => {
            let i = find(links, *id)?;
            links[i].enabled = false;
        }
        LinkOp::Remove { id } => {
            let i = find(links, *id)?;
            links.remove(i);
        }
    }
    Ok(())
}

impl LinksPatch {
    /// The links after every operation, renumbered, or all the errors found.
    pub fn apply(&self, current: &[Link]) -> Result<Vec<Link>, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.ops.is_empty() {
            errs.push(FieldError::new("ops", "must hold at least one operation"));
        }
        if self.ops.len() > MAX_OPS {
            errs.push(FieldError::new(
                "ops",
                format!("at most {MAX_OPS} operations per request"),
            ));
            return Err(errs);
        }
        let mut links = current.to_vec();
        links.sort_by_key(|l| l.position);
        for (i, op) in self.ops.iter().enumerate() {
            if let Err(e) = apply_one(&mut links, op) {
                errs.0
                    .extend(e.0.into_iter().map(|f| f.under(&format!("ops[{i}]"))));
            }
            if links.len() > MAX_LINKS {
                errs.push(FieldError::conflict(
                    format!("ops[{i}]"),
                    format!("a profile holds at most {MAX_LINKS} links"),
                ));
                break;
            }
        }
        for (p, l) in links.iter_mut().enumerate() {
            l.position = p as u32;
        }
        errs.into_result(links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(n: usize) -> Vec<Link> {
        (0..n)
            .map(|i| Link {
                id: Uuid::now_v7(),
                title: format!("l{i}"),
                url: format!("https://e.example/{i}"),
                position: i as u32,
                click_count: i as u64,
                enabled: true,
                visible_from: None,
                visible_until: None,
            })
            .collect()
    }

    fn patch(json: String) -> LinksPatch {
        serde_json::from_str(&json).unwrap()
    }

    fn titles(l: &[Link]) -> Vec<&str> {
        l.iter().map(|l| l.title.as_str()).collect()
    }

    #[test]
    fn applies_every_kind_of_operation_in_order() {
        let cur = links(3);
        let (a, b, c) = (cur[0].id, cur[1].id, cur[2].id);
        let p = patch(format!(
            r#"{{"ops":[
              {{"op":"add","title":"new","url":"https://n.example","position":0}},
              {{"op":"edit","id":"{a}","title":"A!"}},
              {{"op":"disable","id":"{b}"}},
              {{"op":"move","id":"{c}","position":1}},
              {{"op":"remove","id":"{a}"}},
              {{"op":"enable","id":"{b}"}}
            ]}}"#
        ));
        let out = p.apply(&cur).unwrap();
        assert_eq!(titles(&out), ["new", "l2", "l1"]);
        assert_eq!(
            out.iter().map(|l| l.position).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(out.iter().all(|l| l.enabled));
        assert_eq!(out[1].click_count, 2, "edits keep counters");
    }

    #[test]
    fn positions_may_be_written_with_a_zero_fraction() {
        let p: LinksPatch = serde_json::from_str(
            r#"{"ops":[{"op":"add","title":"t","url":"https://e.example","position":0.0}]}"#,
        )
        .unwrap();
        assert!(matches!(
            p.ops[0],
            LinkOp::Add {
                position: Some(0),
                ..
            }
        ));
        for bad in ["0.5", "-1", "-1.0", "4294967296", "1e20", "\"1\""] {
            let body = format!(
                r#"{{"ops":[{{"op":"move","id":"{}","position":{bad}}}]}}"#,
                Uuid::nil()
            );
            assert!(serde_json::from_str::<LinksPatch>(&body).is_err(), "{bad}");
        }
    }

    #[test]
    fn reorder_needs_a_permutation() {
        let cur = links(3);
        let ids: Vec<String> = cur.iter().rev().map(|l| format!("\"{}\"", l.id)).collect();
        let out = patch(format!(
            r#"{{"ops":[{{"op":"reorder","ids":[{}]}}]}}"#,
            ids.join(",")
        ))
        .apply(&cur)
        .unwrap();
        assert_eq!(titles(&out), ["l2", "l1", "l0"]);

        let dup = format!(
            r#"{{"ops":[{{"op":"reorder","ids":["{0}","{0}"]}}]}}"#,
            cur[0].id
        );
        let e = patch(dup).apply(&cur).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["ops[0].ids[1]", "ops[0].ids"]);
    }

    #[test]
    fn errors_name_the_operation_and_nothing_is_applied() {
        let cur = links(2);
        let p = patch(format!(
            r#"{{"ops":[{{"op":"edit","id":"{}","url":"javascript:alert(1)"}},
                       {{"op":"remove","id":"{}"}},
                       {{"op":"move","id":"{}","position":9}}]}}"#,
            cur[0].id,
            Uuid::nil(),
            cur[1].id
        ));
        let e = p.apply(&cur).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["ops[0].url", "ops[1].id", "ops[2].position"]);
    }

    #[test]
    fn refuses_empty_unknown_and_too_many() {
        assert!(patch(r#"{"ops":[]}"#.into()).apply(&[]).is_err());
        assert!(serde_json::from_str::<LinksPatch>(r#"{"ops":[{"op":"explode"}]}"#).is_err());
        assert!(
            serde_json::from_str::<LinksPatch>(r#"{"ops":[{"op":"enable","id":"x"}]}"#).is_err()
        );
        let adds: Vec<String> = (0..=MAX_LINKS)
            .map(|i| format!(r#"{{"op":"add","title":"t{i}","url":"https://e.example"}}"#))
            .collect();
        let e = patch(format!(r#"{{"ops":[{}]}}"#, adds.join(",")))
            .apply(&[])
            .unwrap_err();
        assert!(e.0.last().unwrap().message.contains("at most"));
    }
}

//! The Lua scripts linkleaf runs in Redis, each one atomic step on the server: the tier's fill
//! and invalidation, and the shared bucket's GCRA. Must not: run them (the client compiles them
//! once; the tier and the bucket invoke them).

/// KEYS: page, generation; ARGV: the generation read, the bytes, the TTL in ms.
pub(crate) const PUT_IF_GENERATION: &str = r"
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// KEYS: page, generation; ARGV: how long the generation is kept, in ms (longer than any load).
/// The new generation is Redis's clock in ms (or one more than the last, if that is later): it
/// moves, and it says when the key was last written, which loaders use to avoid a replica that
/// may not have the write yet.
pub(crate) const FORGET: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local g = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
if now > g then g = now end
redis.call('SET', KEYS[2], g, 'PX', ARGV[1])
redis.call('DEL', KEYS[1])
return g
";

/// The generic cell rate algorithm: a token bucket of `burst` tokens refilled one per
/// `interval`, as one atomic step on the server's clock. Returns 0 when a token was taken, else
/// the milliseconds until one will be.
pub(crate) const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then
  return tat - tolerance - now
end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now)
return 0
";

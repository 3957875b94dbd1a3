//! Channels, byte channels, buffers and shared dicts as NIF resources
//! (`py_channel`, `py_byte_channel`, `py_buffer`, `py:shared_dict_*`), and
//! their conversion to Python objects and back (capsules that hold the
//! resource itself, so they come back as the same term). The queues and
//! stores are `py-channel`'s; nothing here waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use py_channel::handle::{self, Core, Handle};
use py_channel::{Buffer, BufferError, Queue, RecvError, SendError, SharedDict, Wake};
use py_convert::{Attached, ConvertError, PyObj};
use rustler::{Binary, Encoder, Env, LocalPid, Monitor, NewBinary, OwnedEnv, ResourceArc, Term};

use crate::atoms::{
    busy, closed, empty, invalid_buffer, invalid_data, len, max_size, not_found, ok, pending, py_channel_ready, size,
    write_failed,
};
use crate::enif::{self, NifEnv, RawTerm};
use crate::error::NifError;

/// A channel: terms (encoded) or bytes from Erlang to Python, and for byte
/// channels bytes from Python to Erlang, which Erlang processes wait for
/// as `{py_channel_ready, Id}` messages.
pub struct ChannelRes {
    inbound: Arc<Queue>,
    outbound: Option<Arc<Queue>>,
    waiters: Arc<ProcessWaiters>,
}

#[rustler::resource_impl]
impl rustler::Resource for ChannelRes {}

/// Erlang processes waiting in `py_byte_channel:recv/2`.
#[derive(Default)]
struct ProcessWaiters {
    pids: Mutex<HashMap<u64, LocalPid>>,
}

impl ProcessWaiters {
    fn snapshot(&self) -> Vec<(u64, LocalPid)> {
        self.pids.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(id, pid)| (*id, *pid)).collect()
    }
}

impl Wake for ProcessWaiters {
    /// Python sent bytes (on a thread of ours, where sending needs no
    /// caller environment). On a scheduler thread (a close from Erlang) the
    /// NIF tells the waiters itself.
    fn wake(&self) {
        if rustler::thread::is_scheduler_thread() {
            return;
        }
        let mut env = OwnedEnv::new();
        for (id, pid) in self.snapshot() {
            let _ = env.send_and_clear(&pid, |e| (py_channel_ready(), id).encode(e));
        }
    }
}

fn new_channel(env: Env<'_>, max: usize, bytes: bool) -> Term<'_> {
    let waiters = Arc::new(ProcessWaiters::default());
    let outbound = bytes.then(|| {
        let q = Arc::new(Queue::new(max));
        let _ = q.watch(waiters.clone());
        q
    });
    let res = ResourceArc::new(ChannelRes { inbound: Arc::new(Queue::new(max)), outbound, waiters });
    (ok(), res).encode(env)
}

/// `channel_new(MaxSize) -> {ok, Channel}`: a term channel.
#[rustler::nif]
fn channel_new(env: Env<'_>, max: usize) -> Term<'_> {
    new_channel(env, max, false)
}

/// `byte_channel_new(MaxSize) -> {ok, Channel}`: a byte channel.
#[rustler::nif]
fn byte_channel_new(env: Env<'_>, max: usize) -> Term<'_> {
    new_channel(env, max, true)
}

fn send_result(env: Env<'_>, r: Result<(), SendError>) -> Term<'_> {
    match r {
        Ok(()) => ok().encode(env),
        Err(SendError::Busy) => busy().encode(env),
        Err(SendError::Closed) => NifError::Atom(closed()).encode(env),
    }
}

/// `channel_send(Channel, Term) -> ok | busy | {error, closed}`.
#[rustler::nif]
fn channel_send<'a>(env: Env<'a>, ch: ResourceArc<ChannelRes>, term: Term<'a>) -> Term<'a> {
    let Some(bytes) = enif::term_to_binary(NifEnv::of(env), term.as_c_arg()) else {
        return NifError::Atom(invalid_data()).encode(env);
    };
    send_result(env, ch.inbound.send(bytes))
}

/// `channel_send_bytes(Channel, Binary) -> ok | busy | {error, closed}`.
#[rustler::nif]
fn channel_send_bytes<'a>(env: Env<'a>, ch: ResourceArc<ChannelRes>, data: Binary<'a>) -> Term<'a> {
    send_result(env, ch.inbound.send(data.as_slice().to_vec()))
}

/// `channel_take_bytes(Channel) -> {ok, Binary} | {error, empty | closed}`:
/// bytes Python sent on a byte channel.
#[rustler::nif]
fn channel_take_bytes(env: Env<'_>, ch: ResourceArc<ChannelRes>) -> Term<'_> {
    let Some(out) = &ch.outbound else { return NifError::Atom(closed()).encode(env) };
    match out.try_recv() {
        Ok(bytes) => {
            let mut bin = NewBinary::new(env, bytes.len());
            bin.as_mut_slice().copy_from_slice(&bytes);
            (ok(), Binary::from(bin)).encode(env)
        }
        Err(RecvError::Empty) => NifError::Atom(empty()).encode(env),
        Err(RecvError::Closed) => NifError::Atom(closed()).encode(env),
    }
}

/// `channel_close(Channel) -> ok`: both directions; waiting Erlang
/// processes are told.
#[rustler::nif]
fn channel_close(env: Env<'_>, ch: ResourceArc<ChannelRes>) -> rustler::Atom {
    ch.inbound.close();
    if let Some(out) = &ch.outbound {
        out.close();
    }
    for (id, pid) in ch.waiters.snapshot() {
        let _ = env.send(&pid, (py_channel_ready(), id).encode(env));
    }
    ok()
}

/// `channel_info(Channel) -> #{size, len, max_size, closed[, pending]}`.
#[rustler::nif]
fn channel_info(env: Env<'_>, ch: ResourceArc<ChannelRes>) -> Term<'_> {
    let i = ch.inbound.info();
    let mut map = rustler::types::map::map_new(env);
    for (k, v) in [(size(), i.size), (len(), i.len), (max_size(), i.max_size)] {
        map = map.map_put(k, v).unwrap_or(map);
    }
    map = map.map_put(closed(), i.closed).unwrap_or(map);
    if let Some(out) = &ch.outbound {
        map = map.map_put(pending(), out.info().size).unwrap_or(map);
    }
    map
}

static NEXT_WATCH: AtomicU64 = AtomicU64::new(1);

/// `channel_watch(Channel) -> Id`: the caller gets `{py_channel_ready, Id}`
/// whenever Python sends bytes, until `channel_unwatch/2`.
#[rustler::nif]
fn channel_watch(env: Env<'_>, ch: ResourceArc<ChannelRes>) -> u64 {
    let id = NEXT_WATCH.fetch_add(1, Ordering::Relaxed);
    ch.waiters.pids.lock().unwrap_or_else(|p| p.into_inner()).insert(id, env.pid());
    id
}

#[rustler::nif]
fn channel_unwatch(ch: ResourceArc<ChannelRes>, id: u64) -> rustler::Atom {
    ch.waiters.pids.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    ok()
}

/// The store behind `erlang.PyBuffer`.
pub struct BufferRes {
    buffer: Arc<Buffer>,
}

#[rustler::resource_impl]
impl rustler::Resource for BufferRes {}

/// `buffer_new(CapacityHint) -> {ok, Buffer}`.
#[rustler::nif]
fn buffer_new(env: Env<'_>, hint: usize) -> Term<'_> {
    (ok(), ResourceArc::new(BufferRes { buffer: Arc::new(Buffer::new(hint)) })).encode(env)
}

/// `buffer_write(Buffer, Binary) -> ok | {error, invalid_buffer |
/// invalid_data | closed | write_failed}`.
#[rustler::nif]
fn buffer_write<'a>(env: Env<'a>, buf: Term<'a>, data: Term<'a>) -> Term<'a> {
    let Ok(buf) = buf.decode::<ResourceArc<BufferRes>>() else { return NifError::Atom(invalid_buffer()).encode(env) };
    let Ok(data) = data.decode::<Binary>() else { return NifError::Atom(invalid_data()).encode(env) };
    match buf.buffer.write(data.as_slice()) {
        Ok(()) => ok().encode(env),
        Err(BufferError::Closed) => NifError::Atom(closed()).encode(env),
        Err(BufferError::Pinned) => NifError::Atom(write_failed()).encode(env),
    }
}

/// `buffer_close(Buffer) -> ok`: end of data.
#[rustler::nif]
fn buffer_close(buf: ResourceArc<BufferRes>) -> rustler::Atom {
    buf.buffer.close();
    ok()
}

/// A shared dict, destroyed when its owner dies.
pub struct SharedDictRes {
    dict: Arc<SharedDict>,
}

#[rustler::resource_impl]
impl rustler::Resource for SharedDictRes {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _monitor: Monitor) {
        self.dict.destroy();
    }
}

/// `shared_dict_new() -> {ok, Dict}`, owned by the caller.
#[rustler::nif]
fn shared_dict_new(env: Env<'_>) -> Term<'_> {
    let res = ResourceArc::new(SharedDictRes { dict: Arc::new(SharedDict::new()) });
    let _ = env.monitor(&res, &env.pid());
    (ok(), res).encode(env)
}

fn live(d: &SharedDictRes) -> rustler::NifResult<&SharedDict> {
    if d.dict.is_destroyed() {
        Err(rustler::Error::BadArg)
    } else {
        Ok(&d.dict)
    }
}

/// `shared_dict_get(Dict, Key) -> {ok, Value} | not_found`; badarg once
/// destroyed.
#[rustler::nif]
fn shared_dict_get<'a>(env: Env<'a>, d: ResourceArc<SharedDictRes>, key: Binary<'a>) -> rustler::NifResult<Term<'a>> {
    match live(&d)?.get(key.as_slice()) {
        // Python may have written the value: decoded in safe mode, so it
        // can hold no atom the atom gate did not admit when it was written.
        Ok(Some(v)) => match enif::binary_to_term(NifEnv::of(env), &v, true) {
            Some(t) => Ok((ok(), enif::term(env, t)).encode(env)),
            None => Err(rustler::Error::BadArg),
        },
        Ok(None) => Ok(not_found().encode(env)),
        Err(_) => Err(rustler::Error::BadArg),
    }
}

#[rustler::nif]
fn shared_dict_set<'a>(
    env: Env<'a>,
    d: ResourceArc<SharedDictRes>,
    key: Binary<'a>,
    value: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    let dict = live(&d)?;
    let Some(bytes) = enif::term_to_binary(NifEnv::of(env), value.as_c_arg()) else {
        return Ok(NifError::Atom(invalid_data()).encode(env));
    };
    dict.set(key.as_slice().to_vec(), bytes).map_err(|_| rustler::Error::BadArg)?;
    Ok(ok().encode(env))
}

#[rustler::nif]
fn shared_dict_del(d: ResourceArc<SharedDictRes>, key: Binary<'_>) -> rustler::NifResult<rustler::Atom> {
    live(&d)?.delete(key.as_slice()).map_err(|_| rustler::Error::BadArg)?;
    Ok(ok())
}

#[rustler::nif]
fn shared_dict_keys(env: Env<'_>, d: ResourceArc<SharedDictRes>) -> rustler::NifResult<Term<'_>> {
    let keys = live(&d)?.keys().map_err(|_| rustler::Error::BadArg)?;
    let terms: Vec<Term<'_>> = keys
        .iter()
        .map(|k| {
            let mut bin = NewBinary::new(env, k.len());
            bin.as_mut_slice().copy_from_slice(k);
            Binary::from(bin).to_term(env)
        })
        .collect();
    Ok(terms.encode(env))
}

/// `shared_dict_destroy(Dict) -> ok`: idempotent.
#[rustler::nif]
fn shared_dict_destroy(d: ResourceArc<SharedDictRes>) -> rustler::Atom {
    d.dict.destroy();
    ok()
}

/// Erlang -> Python for these resources: a capsule (a `PyBuffer` for
/// buffers) that holds the resource; `None` for other terms.
pub fn resolve(env: NifEnv, py: Attached<'_>, t: RawTerm) -> Option<Result<PyObj, ConvertError>> {
    let handle = enif::with_env(env, |e| {
        let term = enif::term(e, t);
        if let Ok(ch) = term.decode::<ResourceArc<ChannelRes>>() {
            let core = match &ch.outbound {
                Some(out) => Core::ByteChannel { inbound: ch.inbound.clone(), outbound: out.clone() },
                None => Core::Channel(ch.inbound.clone()),
            };
            Some(Handle { core, owner: Box::new(ch) })
        } else if let Ok(b) = term.decode::<ResourceArc<BufferRes>>() {
            Some(Handle { core: Core::Buffer(b.buffer.clone()), owner: Box::new(b) })
        } else if let Ok(d) = term.decode::<ResourceArc<SharedDictRes>>() {
            Some(Handle { core: Core::Dict(d.dict.clone()), owner: Box::new(d) })
        } else {
            None
        }
    })?;
    Some(handle::to_python(py, handle).ok_or_else(|| ConvertError::Python(py_convert::PyErrInfo::fetch(py))))
}

/// Python -> Erlang for these objects: the resource they came from.
pub fn term_of(env: NifEnv, py: Attached<'_>, obj: &PyObj) -> Option<RawTerm> {
    let cap = handle::capsule_of(py, obj)?;
    let h = handle::handle_of(&cap)?;
    enif::with_env(env, |e| {
        let owner = &h.owner;
        if let Some(r) = owner.downcast_ref::<ResourceArc<ChannelRes>>() {
            Some(r.encode(e).as_c_arg())
        } else if let Some(r) = owner.downcast_ref::<ResourceArc<BufferRes>>() {
            Some(r.encode(e).as_c_arg())
        } else {
            owner.downcast_ref::<ResourceArc<SharedDictRes>>().map(|r| r.encode(e).as_c_arg())
        }
    })
}

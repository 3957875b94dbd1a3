//! SharedDict: a concurrent map of byte keys to byte values (encoded terms),
//! shared by Erlang processes and Python code.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// The dict was destroyed; its contents are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destroyed;

impl fmt::Display for Destroyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("shared dict was destroyed")
    }
}

impl std::error::Error for Destroyed {}

type Map = HashMap<Box<[u8]>, Arc<[u8]>>;

/// A concurrent map of byte keys to byte values.
///
/// Reads share a read lock and hand out the stored value by reference
/// count, so a `get` never copies the value. The map keeps std's randomly
/// seeded hasher: keys come from user code, and a fixed hash would let
/// chosen keys degrade every lookup.
pub struct SharedDict {
    /// `None` once destroyed.
    map: RwLock<Option<Map>>,
}

impl SharedDict {
    pub fn new() -> SharedDict {
        SharedDict { map: RwLock::new(Some(Map::new())) }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Arc<[u8]>>, Destroyed> {
        self.read(|map| map.get(key).cloned())
    }

    pub fn set(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), Destroyed> {
        // Allocate before locking so writers hold the lock only to insert.
        let key = key.into_boxed_slice();
        let value = Arc::<[u8]>::from(value);
        let replaced = self.write(|map| map.insert(key, value))?;
        // Freed after the lock is released.
        drop(replaced);
        Ok(())
    }

    /// True if the key was there.
    pub fn delete(&self, key: &[u8]) -> Result<bool, Destroyed> {
        let removed = self.write(|map| map.remove(key))?;
        Ok(removed.is_some())
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool, Destroyed> {
        self.read(|map| map.contains_key(key))
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, Destroyed> {
        self.read(|map| map.keys().map(|key| key.to_vec()).collect())
    }

    pub fn len(&self) -> Result<usize, Destroyed> {
        self.read(|map| map.len())
    }

    pub fn is_empty(&self) -> Result<bool, Destroyed> {
        self.read(|map| map.is_empty())
    }

    /// Idempotent; frees the contents; every later call returns
    /// Err(Destroyed). Values already handed out by `get` stay valid.
    pub fn destroy(&self) {
        let contents = self.map.write().unwrap_or_else(PoisonError::into_inner).take();
        drop(contents);
    }

    pub fn is_destroyed(&self) -> bool {
        self.map.read().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    // Only single map operations run under the lock, and each leaves the map
    // consistent even if it unwinds, so a poisoned lock is still usable.
    fn read<R>(&self, use_map: impl FnOnce(&Map) -> R) -> Result<R, Destroyed> {
        let guard = self.map.read().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(use_map).ok_or(Destroyed)
    }

    fn write<R>(&self, change_map: impl FnOnce(&mut Map) -> R) -> Result<R, Destroyed> {
        let mut guard = self.map.write().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().map(change_map).ok_or(Destroyed)
    }
}

impl Default for SharedDict {
    fn default() -> SharedDict {
        SharedDict::new()
    }
}

impl fmt::Debug for SharedDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.len() {
            Ok(len) => f.debug_struct("SharedDict").field("len", &len).finish(),
            Err(Destroyed) => f.write_str("SharedDict(destroyed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_overwrite_delete() {
        let dict = SharedDict::new();
        assert_eq!(dict.get(b"k"), Ok(None));
        dict.set(b"k".to_vec(), b"v1".to_vec()).unwrap();
        assert_eq!(dict.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
        dict.set(b"k".to_vec(), b"v2".to_vec()).unwrap();
        assert_eq!(dict.get(b"k").unwrap().as_deref(), Some(&b"v2"[..]));
        assert_eq!(dict.len(), Ok(1));
        assert_eq!(dict.delete(b"k"), Ok(true));
        assert_eq!(dict.delete(b"k"), Ok(false));
        assert_eq!(dict.get(b"k"), Ok(None));
        assert_eq!(dict.len(), Ok(0));
        assert_eq!(dict.is_empty(), Ok(true));
    }

    #[test]
    fn empty_key_and_value_are_ordinary() {
        let dict = SharedDict::default();
        dict.set(Vec::new(), Vec::new()).unwrap();
        assert_eq!(dict.contains(b""), Ok(true));
        assert_eq!(dict.get(b"").unwrap().as_deref(), Some(&b""[..]));
    }

    #[test]
    fn keys_lists_every_key() {
        let dict = SharedDict::new();
        for key in [&b"b"[..], b"a", b"c"] {
            dict.set(key.to_vec(), key.to_vec()).unwrap();
        }
        dict.delete(b"c").unwrap();
        let mut keys = dict.keys().unwrap();
        keys.sort();
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!((dict.contains(b"a"), dict.contains(b"c")), (Ok(true), Ok(false)));
    }

    #[test]
    fn get_shares_the_stored_value() {
        let dict = SharedDict::new();
        dict.set(b"k".to_vec(), vec![7; 1000]).unwrap();
        let first = dict.get(b"k").unwrap().unwrap();
        let second = dict.get(b"k").unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &second), "no copy per get");
    }

    #[test]
    fn destroyed_refuses_everything() {
        let dict = SharedDict::new();
        dict.set(b"k".to_vec(), b"v".to_vec()).unwrap();
        let held = dict.get(b"k").unwrap().unwrap();
        assert!(!dict.is_destroyed());
        dict.destroy();
        dict.destroy();
        assert!(dict.is_destroyed());
        assert_eq!(dict.get(b"k"), Err(Destroyed));
        assert_eq!(dict.set(b"k".to_vec(), b"v".to_vec()), Err(Destroyed));
        assert_eq!(dict.delete(b"k"), Err(Destroyed));
        assert_eq!(dict.contains(b"k"), Err(Destroyed));
        assert_eq!(dict.keys(), Err(Destroyed));
        assert_eq!(dict.len(), Err(Destroyed));
        assert_eq!(dict.is_empty(), Err(Destroyed));
        assert_eq!(&*held, b"v", "a value already handed out outlives the dict's contents");
        assert_eq!(Arc::strong_count(&held), 1, "destroy released the dict's reference");
    }

    #[test]
    fn debug_shows_length_or_destroyed() {
        let dict = SharedDict::new();
        dict.set(b"k".to_vec(), b"v".to_vec()).unwrap();
        assert_eq!(format!("{dict:?}"), "SharedDict { len: 1 }");
        dict.destroy();
        assert_eq!(format!("{dict:?}"), "SharedDict(destroyed)");
    }
}

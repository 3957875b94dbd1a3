//! py-nif

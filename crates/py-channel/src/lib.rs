//! py-channel

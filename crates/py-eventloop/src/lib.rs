//! py-eventloop

//! Host facts that several check areas share, each read and parsed once per run
//! through [`Context::memo`](super::Context::memo).

pub mod display_manager;
pub mod dpkg;
pub mod osrelease;
pub mod systemd;

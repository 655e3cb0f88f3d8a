//! placeholder, being written
#![cfg_attr(target_os = "none", no_std)]
pub mod mm;

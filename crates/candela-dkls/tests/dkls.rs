//! DKLs23's tests, each file a module of this one test binary (one link
//! instead of one per file).
mod common;

mod agreement;
mod blame;
mod encoding;
mod exclusion;
mod properties;
mod signing;

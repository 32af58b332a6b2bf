//! FROST's tests, each file a module of this one test binary (one link
//! instead of one per file).
mod common;

mod addresses;
mod blame;
mod commitments;
mod pkp_tweak;
mod roots;
mod schemes;
mod serde_roundtrip;
mod threshold_sign;

//! The node's client to its parent hub. It lives in `bangfu-client` because a prefecture hub
//! reaches its own parent the same way (DESIGN.md: "a hub is also a child").

pub use bangfu_client::*;

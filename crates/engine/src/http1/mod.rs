//! volley's own HTTP/1.1 client codec: requests serialized once into bytes, responses parsed
//! in place from a reused buffer, the connection driven by the VU's own task.

pub mod conn;
pub mod request;
pub mod response;

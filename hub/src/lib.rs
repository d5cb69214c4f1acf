//! `bangfu-hub`: a prefecture or province union's hub. For now its PKI: the CA that issues each child
//! union the certificate it reports with, and the mutual-TLS configurations built on it.

pub mod pki;
pub mod tls;

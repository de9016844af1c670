//! imagegen-core

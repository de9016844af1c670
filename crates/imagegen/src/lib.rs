//! imagegen

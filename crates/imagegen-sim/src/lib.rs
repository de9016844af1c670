//! imagegen-sim

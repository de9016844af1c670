//! imagegen-runbase

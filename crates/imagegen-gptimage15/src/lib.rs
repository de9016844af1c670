//! imagegen-gptimage15

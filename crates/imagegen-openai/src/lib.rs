//! imagegen-openai

//! Architecture-specific planning.

pub mod deepseek2;

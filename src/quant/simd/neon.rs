//! NEON backend (placeholder)

//! Benchmarks live in wire.rs

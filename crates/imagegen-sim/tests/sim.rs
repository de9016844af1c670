//! Integration tests of imagegen-sim, over real HTTP on loopback only.
//!
//! One test binary (to keep linking cheap); one module per concern.

mod sim {
    pub mod common;

    mod admin;
    mod azure;
    mod cli;
    mod fal;
    mod faults;
    mod gptimage15;
    mod images;
    mod load;
    mod openai;
    mod replicate;
    mod runbase;
    mod state;
    mod wavespeed;
}

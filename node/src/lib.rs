//! bangfu-node: a county union's household archive (困难职工档案), kept on its own machine.

pub mod columns;
pub mod domain;
pub mod r#gen;
pub mod rules;

//! Loading zone files into the immutable [`crate::model::ZoneSet`], reporting every problem.

pub mod parse;

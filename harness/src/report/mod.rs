//! Reporters consume the runner's events and render them. The runner never
//! prints; everything a person reads about a run is formatted here.

pub mod arrivals;
pub mod human;

pub mod clusters;

//! One module per subcommand.

pub(crate) mod bench; // measure publish, process and latency
pub(crate) mod work; // run a command once per claimed job

//! `imagegen sim`: the simulator, standalone.

use crate::exit::{CliError, CliResult, Exit};

pub async fn run(args: imagegen_sim::SimArgs) -> CliResult<Exit> {
    imagegen_sim::serve(args).await.map_err(|e| {
        // A port that is taken is not an unreachable host: exit 1.
        let exit = if e.kind() == std::io::ErrorKind::InvalidInput {
            Exit::Usage
        } else {
            Exit::Failed
        };
        CliError::new(exit, format!("simulator: {e}"))
    })?;
    Ok(Exit::Ok)
}

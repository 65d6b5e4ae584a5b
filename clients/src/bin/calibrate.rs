//! `calibrate`: the machine's calibration probes (`harness::calibrate`: a cpu loop, a memory chase, a loopback
//! echo), printed as one JSON object. Built with the clients so that the lab, whatever its own build, calibrates
//! with code built like the programs it measures; `lab` runs it at the start and the end of every run.

fn main() -> std::process::ExitCode {
    let measures = harness::calibrate::measure();
    match serde_json::to_string(&measures) {
        Ok(json) => {
            println!("{json}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("calibrate: cannot write the measures: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `async-client`: see [`clients::async_client`].

fn main() -> std::process::ExitCode {
    clients::async_client::main()
}

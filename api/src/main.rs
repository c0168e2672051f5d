#[tokio::main]
async fn main() -> std::process::ExitCode {
    match pika_api::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pika-memory: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

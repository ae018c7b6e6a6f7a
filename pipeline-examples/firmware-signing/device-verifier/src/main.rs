//! `lakeseal-firmware-verifier --public-key KEY.der --image FILE --signature FILE.sig`: exits 0
//! and prints "accepted" for an image the release key signed, exits 1 and says why otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Checks a firmware image's signature with the release key's public half.
#[derive(Debug, Parser)]
struct Args {
    /// The release key's DER SubjectPublicKeyInfo (from GetPublicKey).
    #[arg(long)]
    public_key: PathBuf,
    /// The firmware image.
    #[arg(long)]
    image: PathBuf,
    /// Its DER ECDSA signature.
    #[arg(long)]
    signature: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let inputs = (|| {
        Ok::<_, String>((
            read(&args.public_key)?,
            read(&args.image)?,
            read(&args.signature)?,
        ))
    })();
    let (key, image, signature) = match inputs {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match lakeseal_firmware_verifier::verify(&key, &image, &signature) {
        Ok(()) => {
            println!("accepted");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("rejected: {why}");
            ExitCode::FAILURE
        }
    }
}

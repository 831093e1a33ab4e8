"""What every source of this repository shares: the CLI runtime, the Arrow-to-RECORD encoder,
checkpointing, stream bracketing and progress logs."""

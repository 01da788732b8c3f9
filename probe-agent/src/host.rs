//! The host's memory and CPU, behind a small trait so tests can inject
//! fixed numbers; the real source is `sysinfo`.

use memreport::HostMemory;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// Where host figures come from.
pub trait MemorySource: Send {
    /// Samples memory (bytes) and CPU use (percent of all cores).
    fn sample(&mut self) -> (HostMemory, f32);
}

/// The real host, through `sysinfo`.
#[derive(Debug)]
pub struct SysinfoSource {
    system: System,
}

impl SysinfoSource {
    /// Starts measuring; the first CPU figure covers the time until the
    /// first sample.
    ///
    /// # Errors
    /// When the platform gives sysinfo no access to these figures.
    pub fn new() -> Result<SysinfoSource, String> {
        let kinds = RefreshKind::nothing()
            .with_memory(MemoryRefreshKind::nothing().with_ram())
            .with_cpu(CpuRefreshKind::nothing().with_usage());
        let system = System::new_with_specifics(kinds)
            .map_err(|e| format!("cannot read host memory and CPU: {e}"))?;
        Ok(SysinfoSource { system })
    }
}

impl MemorySource for SysinfoSource {
    fn sample(&mut self) -> (HostMemory, f32) {
        self.system.refresh_memory();
        self.system.refresh_cpu_usage();
        let memory = HostMemory {
            total_bytes: self.system.total_memory(),
            available_bytes: self.system.available_memory(),
            used_bytes: self.system.used_memory(),
        };
        (memory, self.system.global_cpu_usage())
    }
}

/// This machine's name, for the report and the registration.
pub fn host_name() -> String {
    System::host_name().unwrap_or_else(|_| "localhost".into())
}

/// A source that always reports the same figures.
#[derive(Debug, Clone, Copy)]
pub struct FixedSource(pub HostMemory, pub f32);

impl MemorySource for FixedSource {
    fn sample(&mut self) -> (HostMemory, f32) {
        (self.0, self.1)
    }
}

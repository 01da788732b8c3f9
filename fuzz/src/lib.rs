//! What the fuzz targets share: how an input is cut into the pieces a
//! socket might deliver it in.

/// Sizes of pieces covering `len` bytes, drawn from a generator seeded by
/// the input itself (FNV-1a of `data`), so that a crash replays: mostly 1
/// to 16 bytes, now and then up to 256. Every mutation of an input cuts it
/// differently.
pub fn pieces(data: &[u8]) -> Vec<usize> {
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut next = || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut sizes = Vec::new();
    let mut left = data.len();
    while left > 0 {
        let r = next();
        let most = if r % 8 == 0 { 256 } else { 16 };
        let size = (1 + (r >> 8) as usize % most).min(left);
        sizes.push(size);
        left -= size;
    }
    sizes
}

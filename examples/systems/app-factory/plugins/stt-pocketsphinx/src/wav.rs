//! WAV in and out: what the recogniser reads is 16 kHz mono 16-bit PCM, whatever the caller
//! sent (espeak-ng speaks at 22,050 Hz). RIFF layout: Microsoft's "Multimedia Programming
//! Interface and Data Specifications 1.0" (1991), chapter 3, the `fmt ` and `data` chunks.

/// The rate PocketSphinx's en-US model was trained at.
const RATE: u32 = 16_000;

/// 16-bit PCM samples of `wav`, mixed to mono and resampled (linearly) to 16 kHz, or why it
/// is not a WAV this reads: RIFF/WAVE, PCM (format 1), 16 bits, 1–8 channels, 8–192 kHz,
/// some audio.
pub fn decode_to_16k_mono(wav: &[u8]) -> Result<Vec<i16>, String> {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return Err("not a WAV file (no RIFF/WAVE header)".into());
    }
    let mut format = None;
    let mut data = None;
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let size = u32::from_le_bytes(wav[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &wav[at + 8..wav.len().min(at + 8 + size)];
        match id {
            b"fmt " if body.len() >= 16 => format = Some(body),
            // A streamed WAV may announce more data than it holds: take what is there.
            b"data" => data = Some(body),
            _ => {}
        }
        at = at
            .saturating_add(8)
            .saturating_add(size)
            .saturating_add(size & 1);
    }
    let format = format.ok_or("the WAV has no `fmt ` chunk")?;
    let data = data.ok_or("the WAV has no `data` chunk")?;
    let field = |i: usize| u16::from_le_bytes([format[i], format[i + 1]]);
    let (kind, channels, bits) = (field(0), field(2) as usize, field(14));
    let rate = u32::from_le_bytes(format[4..8].try_into().unwrap());
    if kind != 1 || bits != 16 {
        return Err(format!(
            "the WAV is format {kind} with {bits}-bit samples: 16-bit PCM (format 1) only"
        ));
    }
    // Below 8 kHz is not speech a recogniser hears, and resampling a few hertz up to 16 kHz
    // would multiply the samples past the plugin's memory.
    if !(1..=8).contains(&channels) || !(8_000..=192_000).contains(&rate) {
        return Err(format!(
            "the WAV has {channels} channels at {rate} Hz: 1-8 channels, 8-192 kHz"
        ));
    }
    let frames: Vec<f32> = data
        .chunks_exact(2 * channels)
        .map(|frame| {
            let sum: i32 = frame
                .chunks_exact(2)
                .map(|s| i16::from_le_bytes([s[0], s[1]]) as i32)
                .sum();
            sum as f32 / channels as f32
        })
        .collect();
    if frames.is_empty() {
        return Err("the WAV holds no audio".into());
    }
    Ok(resample(&frames, rate))
}

/// Linear interpolation from `rate` to [`RATE`].
fn resample(frames: &[f32], rate: u32) -> Vec<i16> {
    let step = rate as f64 / RATE as f64;
    let count = ((frames.len() as f64) / step) as usize;
    (0..count)
        .map(|i| {
            let at = i as f64 * step;
            let left = at as usize;
            let right = (left + 1).min(frames.len() - 1);
            let fraction = (at - left as f64) as f32;
            let value = frames[left] * (1.0 - fraction) + frames[right] * fraction;
            value.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
        })
        .collect()
}

/// A canonical 44-byte-header WAV of 16 kHz mono 16-bit `samples`.
pub fn encode_16k_mono(samples: &[i16]) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // block align
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    wav
}

//! How the output is cut into files (as llama.cpp's converter splits), each file's header and
//! tensor offsets, and the names of a split set's files.

use super::{ConvertOptions, PlannedFile, PlannedTensor};
use crate::gguf::writer::{TensorInfo, assign_offsets, header_bytes};
use crate::gguf::{DEFAULT_ALIGNMENT, SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT, Value, pad_to};
use crate::{Error, Result};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Splits tensors into files, as llama.cpp's converter does, assigns offsets, and builds headers.
pub fn layout_files(
    tensors: &mut [PlannedTensor],
    kvs: Vec<(String, Value)>,
    opts: &ConvertOptions,
) -> Result<Vec<PlannedFile>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut start = 0usize;
    let mut bytes = 0u64;
    for (i, t) in tensors.iter().enumerate() {
        let nb = t.info.n_bytes();
        let count = i - start;
        let over_tensors = opts.split_max_tensors.is_some_and(|m| count as u64 >= m);
        let over_size = opts.split_max_size.is_some_and(|m| bytes + nb > m);
        if count > 0 && (over_tensors || over_size) {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += nb;
    }
    ranges.push(start..tensors.len());
    let n = ranges.len();
    if n > u16::MAX as usize {
        return Err(Error::Usage(format!(
            "the split would make {n} files; GGUF split sets hold at most 65535"
        )));
    }
    let split = opts.is_split();
    let total = tensors.len();
    let mut files = Vec::with_capacity(n);
    for (fi, r) in ranges.into_iter().enumerate() {
        for t in &mut tensors[r.clone()] {
            t.file = fi;
        }
        let mut infos: Vec<TensorInfo> =
            tensors[r.clone()].iter().map(|t| t.info.clone()).collect();
        let data_len = assign_offsets(&mut infos);
        for (t, i) in tensors[r.clone()].iter_mut().zip(&infos) {
            t.info.offset = i.offset;
        }
        let mut fkvs = if fi == 0 { kvs.clone() } else { Vec::new() };
        if split {
            fkvs.push((SPLIT_NO.into(), Value::U16(fi as u16)));
            fkvs.push((SPLIT_COUNT.into(), Value::U16(n as u16)));
            fkvs.push((SPLIT_TENSORS_COUNT.into(), Value::I32(total as i32)));
        }
        let header = header_bytes(&fkvs, &infos);
        debug_assert_eq!(
            data_len,
            infos
                .iter()
                .map(|t| pad_to(t.n_bytes(), DEFAULT_ALIGNMENT))
                .sum::<u64>()
        );
        files.push(PlannedFile {
            kvs: fkvs,
            tensors: r,
            header,
            data_len,
        });
    }
    Ok(files)
}

/// The paths of the output files: `out` itself, or `STEM-00001-of-0000N.gguf` for a split set.
pub fn output_paths(out: &Path, n_files: usize, split: bool) -> Vec<PathBuf> {
    if !split {
        return vec![out.to_path_buf()];
    }
    let s = out.to_string_lossy();
    let stem = s.strip_suffix(".gguf").unwrap_or(&s);
    (1..=n_files)
        .map(|i| PathBuf::from(format!("{stem}-{i:05}-of-{n_files:05}.gguf")))
        .collect()
}

/// Parses a size like `50G`, `500M`, `2000K` or `1000` (decimal units, as llama.cpp).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 1_000u64),
        (i, 'M' | 'm') => (&s[..i], 1_000_000),
        (i, 'G' | 'g') => (&s[..i], 1_000_000_000),
        (i, 'T' | 't') => (&s[..i], 1_000_000_000_000),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul).filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50G"), Some(50_000_000_000));
        assert_eq!(parse_size("1500m"), Some(1_500_000_000));
        assert_eq!(parse_size("7"), Some(7));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_size("-1K"), None);
    }

    #[test]
    fn split_names() {
        let p = output_paths(Path::new("/x/m.gguf"), 3, true);
        assert_eq!(p[2], PathBuf::from("/x/m-00003-of-00003.gguf"));
        assert_eq!(
            output_paths(Path::new("m.gguf"), 1, false),
            vec![PathBuf::from("m.gguf")]
        );
    }
}

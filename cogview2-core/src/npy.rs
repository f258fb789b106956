//! Reading the official `cluster_label.npy` (NumPy `.npy`, one integer label per image code).

use std::path::Path;

use crate::error::{CoreError, Result};
use crate::sampling::ClusterTable;

const MAGIC: &[u8] = b"\x93NUMPY";

/// A one-dimensional integer array read from `.npy` bytes (`<i8`, `<i4`, `<u8`, `<u4`, C order).
pub fn read_npy_int_vector(bytes: &[u8], file: &str) -> Result<Vec<i64>> {
    let fail = |reason: String| CoreError::InvalidArrayFile { file: file.to_string(), reason };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(fail("not a NumPy .npy file (bad magic)".into()));
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(fail(format!("unsupported .npy version {major}"))),
    };
    let header = bytes
        .get(header_start..header_start + header_len)
        .ok_or_else(|| fail("truncated header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| fail("header is not text".into()))?;
    let descr = header_value(header, "descr").ok_or_else(|| fail("header has no 'descr'".into()))?;
    let fortran = header_value(header, "fortran_order").ok_or_else(|| fail("header has no 'fortran_order'".into()))?;
    let shape = header_value(header, "shape").ok_or_else(|| fail("header has no 'shape'".into()))?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| fail(format!("bad shape {shape}"))))
        .collect::<Result<_>>()?;
    if dims.len() != 1 || fortran.trim() == "True" {
        return Err(fail(format!("expected a 1-D C-order array, found shape {shape}")));
    }
    let width = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<i8" | "<u8" => 8,
        "<i4" | "<u4" => 4,
        other => return Err(fail(format!("dtype {other} is not a little-endian 32/64-bit integer"))),
    };
    let signed = descr.contains('i');
    let data = &bytes[header_start + header_len..];
    if data.len() != dims[0] * width {
        return Err(fail(format!("{} data bytes for {} values of {width} bytes (truncated?)", data.len(), dims[0])));
    }
    data.chunks_exact(width)
        .map(|c| {
            let v = if width == 8 {
                let raw = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                if signed { raw as i64 } else { i64::try_from(raw).map_err(|_| fail(format!("value {raw} too large")))? }
            } else {
                let raw = u32::from_le_bytes(c.try_into().unwrap_or([0; 4]));
                if signed { raw as i32 as i64 } else { raw as i64 }
            };
            Ok(v)
        })
        .collect()
}

/// The value text of `'key': value` in a `.npy` header dict (tuples kept whole).
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(rest[..end].trim())
}

impl ClusterTable {
    /// Reads a cluster table in the official `cluster_label.npy` format (int64 `[num_image_tokens]`).
    pub fn from_npy_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CoreError::Io { path: path.to_path_buf(), source })?;
        Self::from_labels(read_npy_int_vector(&bytes, &path.display().to_string())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn reads_int64_and_int32_vectors() {
        let data: Vec<u8> = [3i64, 0, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(read_npy_int_vector(&npy("<i8", "(3,)", &data), "x").unwrap(), vec![3, 0, 2]);
        let data: Vec<u8> = [-1i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(read_npy_int_vector(&npy("<i4", "(2,)", &data), "x").unwrap(), vec![-1, 7]);
    }

    #[test]
    fn rejects_bad_files() {
        let data: Vec<u8> = [1i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        for bytes in [
            b"not numpy".to_vec(),
            npy("<i8", "(3,)", &data),
            npy("<f4", "(4,)", &data),
            npy("<i8", "(1, 2)", &data),
            npy("<i8", "(2,)", &data)[..20].to_vec(),
        ] {
            assert!(matches!(read_npy_int_vector(&bytes, "x"), Err(CoreError::InvalidArrayFile { .. })));
        }
    }
}

//! The vocabulary every tokenizer reader produces, whatever the files (`tokenizer.json`,
//! tiktoken ranks): the token strings, their types and the BPE merges as GGUF stores them, and
//! the GPT-2 byte ↔ character table byte-level vocabularies are written in.

use crate::gguf::{Array, Value};

/// gguf-py `TokenType::NORMAL`.
pub const TT_NORMAL: i32 = 1;
/// gguf-py `TokenType::CONTROL`.
pub const TT_CONTROL: i32 = 3;
/// gguf-py `TokenType::USER_DEFINED`.
pub const TT_USER_DEFINED: i32 = 4;
/// gguf-py `TokenType::UNUSED`.
pub const TT_UNUSED: i32 = 5;

/// A byte-level BPE vocabulary, ready for `tokenizer.ggml.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocabulary {
    /// `tokenizer.ggml.pre`.
    pub pre: String,
    /// `tokenizer.ggml.tokens`: one string per id, `vocab_size` of them.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`, one per token.
    pub types: Vec<i32>,
    /// `tokenizer.ggml.merges` (`"a b"` strings).
    pub merges: Vec<String>,
}

impl Vocabulary {
    /// The `tokenizer.ggml.{model,pre,tokens,token_type,merges}` keys, in the converter's order
    /// (an empty merge list is not written, as gguf-py does).
    pub fn kvs(self) -> Vec<(String, Value)> {
        let mut kvs = vec![
            (
                "tokenizer.ggml.model".to_string(),
                Value::String("gpt2".into()),
            ),
            ("tokenizer.ggml.pre".to_string(), Value::String(self.pre)),
            (
                "tokenizer.ggml.tokens".to_string(),
                Value::Array(Array::String(self.tokens)),
            ),
            (
                "tokenizer.ggml.token_type".to_string(),
                Value::Array(Array::I32(self.types)),
            ),
        ];
        if !self.merges.is_empty() {
            kvs.push((
                "tokenizer.ggml.merges".to_string(),
                Value::Array(Array::String(self.merges)),
            ));
        }
        kvs
    }
}

/// GPT-2's byte → printable character mapping used by byte-level BPE vocabularies: printable
/// Latin-1 bytes map to themselves, the other 68 to U+0100 onwards, in byte order.
pub fn byte_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..256u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap_or('?')
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('?')
        };
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_gpt2() {
        let t = byte_to_unicode();
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[0], 'Ā');
        let set: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(set.len(), 256);
    }
}

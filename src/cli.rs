//! Command-line value types: the library's enums as `clap` values, so the binary's help lists
//! come from the types themselves.

use crate::arch::{Layout, Mtp};
use crate::quant::preset::OutType;
use crate::synth::{SynthDtype, SynthFamily, SynthPreset};
use clap::ValueEnum;
use clap::builder::PossibleValue;

impl ValueEnum for OutType {
    fn value_variants<'a>() -> &'a [Self] {
        &OutType::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let v = PossibleValue::new(self.name());
        // llama-quantize's aliases for the _m presets
        Some(match self {
            OutType::Q3_K_M => v.alias("q3_k"),
            OutType::Q4_K_M => v.alias("q4_k"),
            OutType::Q5_K_M => v.alias("q5_k"),
            _ => v,
        })
    }
}

impl ValueEnum for Layout {
    fn value_variants<'a>() -> &'a [Self] {
        &[Layout::Mla, Layout::Legacy]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Layout::Mla => {
                PossibleValue::new("mla").help("llama.cpp's MLA layout (attn_k_b + attn_v_b)")
            }
            Layout::Legacy => PossibleValue::new("legacy")
                .help("Ollama's layout (attn_kv_b whole, per-head KV metadata)"),
        })
    }
}

impl ValueEnum for Mtp {
    fn value_variants<'a>() -> &'a [Self] {
        &[Mtp::Keep, Mtp::Only, Mtp::Drop]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Mtp::Keep => PossibleValue::new("keep").help("trunk and MTP layers in one file"),
            Mtp::Only => PossibleValue::new("only")
                .help("only the MTP layers and the tensors they share: a draft model"),
            Mtp::Drop => PossibleValue::new("drop").help("the trunk only (--no-mtp)"),
            Mtp::Default => PossibleValue::new("default")
                .help("what the architecture's reference converter does"),
        })
    }
}

impl ValueEnum for SynthDtype {
    fn value_variants<'a>() -> &'a [Self] {
        &SynthDtype::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for SynthFamily {
    fn value_variants<'a>() -> &'a [Self] {
        &SynthFamily::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).aliases(self.aliases().iter().copied()))
    }
}

impl ValueEnum for SynthPreset {
    fn value_variants<'a>() -> &'a [Self] {
        &SynthPreset::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).help(self.help()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_by_its_name() {
        for t in OutType::ALL {
            assert_eq!(OutType::from_str(t.name(), true), Ok(t));
        }
        assert_eq!(OutType::from_str("Q4_K", true), Ok(OutType::Q4_K_M));
        for p in SynthPreset::ALL {
            assert_eq!(SynthPreset::from_str(p.name(), false), Ok(p));
        }
        assert_eq!(SynthDtype::from_str("fp8", false), Ok(SynthDtype::Fp8));
        assert_eq!(Layout::from_str("legacy", false), Ok(Layout::Legacy));
        assert_eq!(
            SynthFamily::from_str("deepseek-v32", false),
            Ok(SynthFamily::DeepseekV32)
        );
        assert_eq!(
            SynthFamily::from_str("v32", false),
            Ok(SynthFamily::DeepseekV32)
        );
        assert_eq!(Mtp::from_str("keep", false), Ok(Mtp::Keep));
    }
}

//! numcodecs' `lz4` compressor for Zarr v2 arrays (`"compressor": {"id": "lz4"}`), which zarrs
//! does not decode: each chunk is its decoded length as a little-endian `u32` followed by one
//! LZ4 block. Decoded with `lz4_flex` (pure Rust), registered with zarrs' runtime codec
//! registry once, before the first v2 array is opened.

use std::borrow::Cow;
use std::sync::{Arc, Once};

use zarrs::array::codec::api::{
    register_codec_v2, BytesRepresentation, BytesToBytesCodecTraits, Codec, CodecError,
    CodecMetadataOptions, CodecOptions, CodecRuntimePluginV2, CodecTraits,
    PartialDecoderCapability, PartialEncoderCapability, RecommendedConcurrency,
};
use zarrs::array::ArrayBytesRaw;
use zarrs::metadata::Configuration;
use zarrs::plugin::{ExtensionName, ZarrVersion};

/// The numcodecs `lz4` codec (decoding; encoding writes the same format).
#[derive(Clone, Debug, Default)]
struct Lz4Codec;

/// Makes zarrs decode numcodecs' `lz4` in v2 arrays (idempotent).
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_codec_v2(CodecRuntimePluginV2::new(
            |name| name == "lz4",
            |_metadata| Ok(Codec::BytesToBytes(Arc::new(Lz4Codec))),
        ));
    });
}

impl ExtensionName for Lz4Codec {
    fn name(&self, version: ZarrVersion) -> Option<Cow<'static, str>> {
        match version {
            ZarrVersion::V2 => Some(Cow::Borrowed("lz4")),
            ZarrVersion::V3 => Some(Cow::Borrowed("numcodecs.lz4")),
        }
    }
}

impl CodecTraits for Lz4Codec {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn configuration(
        &self,
        _version: ZarrVersion,
        _options: &CodecMetadataOptions,
    ) -> Option<Configuration> {
        None
    }

    fn partial_decoder_capability(&self) -> PartialDecoderCapability {
        PartialDecoderCapability {
            partial_read: false,
            partial_decode: false,
        }
    }

    fn partial_encoder_capability(&self) -> PartialEncoderCapability {
        PartialEncoderCapability {
            partial_encode: false,
        }
    }
}

impl BytesToBytesCodecTraits for Lz4Codec {
    fn into_dyn(self: Arc<Self>) -> Arc<dyn BytesToBytesCodecTraits> {
        self as Arc<dyn BytesToBytesCodecTraits>
    }

    fn recommended_concurrency(
        &self,
        _decoded_representation: &BytesRepresentation,
    ) -> Result<RecommendedConcurrency, CodecError> {
        Ok(RecommendedConcurrency::new_maximum(1))
    }

    fn encode<'a>(
        &self,
        decoded_value: ArrayBytesRaw<'a>,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        Ok(Cow::Owned(lz4_flex::block::compress_prepend_size(
            &decoded_value,
        )))
    }

    fn decode<'a>(
        &self,
        encoded_value: ArrayBytesRaw<'a>,
        decoded_representation: &BytesRepresentation,
        _options: &CodecOptions,
    ) -> Result<ArrayBytesRaw<'a>, CodecError> {
        let declared = encoded_value
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
            .ok_or_else(|| {
                CodecError::Other("lz4: a chunk shorter than its 4-byte header".into())
            })?;
        // The header is checked against the chunk's size before anything is allocated.
        if let Some(expected) = decoded_representation.size() {
            if declared != expected {
                return Err(CodecError::Other(format!(
                    "lz4: the chunk declares {declared} decoded bytes, the array's chunks hold {expected}"
                )));
            }
        }
        lz4_flex::block::decompress_size_prepended(&encoded_value)
            .map(Cow::Owned)
            .map_err(|e| CodecError::Other(format!("lz4: {e}")))
    }

    fn encoded_representation(
        &self,
        decoded_representation: &BytesRepresentation,
    ) -> BytesRepresentation {
        decoded_representation
            .size()
            .map_or(BytesRepresentation::UnboundedSize, |size| {
                BytesRepresentation::BoundedSize(
                    lz4_flex::block::get_maximum_output_size(size as usize) as u64 + 4,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_bad_headers_are_refused() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let codec = Lz4Codec;
        let encoded = codec
            .encode(Cow::Borrowed(&data), &CodecOptions::default())
            .unwrap();
        assert_eq!(&encoded[..4], &5000u32.to_le_bytes());
        let repr = BytesRepresentation::FixedSize(5000);
        let decoded = codec
            .decode(encoded.clone(), &repr, &CodecOptions::default())
            .unwrap();
        assert_eq!(decoded.as_ref(), data.as_slice());
        let wrong = BytesRepresentation::FixedSize(4000);
        assert!(codec
            .decode(encoded, &wrong, &CodecOptions::default())
            .is_err());
        assert!(codec
            .decode(Cow::Borrowed(&[1, 2]), &repr, &CodecOptions::default())
            .is_err());
    }
}

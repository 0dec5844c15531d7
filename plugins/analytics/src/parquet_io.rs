//! Parquet in and out of memory, written the same way every time: the same
//! rows in the same order give the same bytes (no timestamps are written).

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::LakeError;

pub fn write(schema: SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, LakeError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(LakeError::parquet)?))
        .set_max_row_group_row_count(Some(256 * 1024))
        .build();
    // One batch in, whatever batches the engine made: the writer cuts
    // pages by its input's chunks, and the bytes must not depend on them.
    let whole = concat_batches(&schema, batches).map_err(LakeError::arrow)?;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(properties)).map_err(LakeError::parquet)?;
    writer.write(&whole).map_err(LakeError::parquet)?;
    writer.close().map_err(LakeError::parquet)?;
    Ok(out)
}

pub fn read(data: Bytes) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(data).map_err(LakeError::parquet)?;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(64 * 1024).build().map_err(LakeError::parquet)?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(LakeError::arrow)?;
    Ok((schema, batches))
}

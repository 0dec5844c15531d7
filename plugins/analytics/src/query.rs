//! Reading the lake: production tables over a range of days (for the
//! dashboards and the asset page) and the admins' read-only SQL, both with
//! DataFusion over the Parquet files of the plugin's object storage. The
//! SQL reads its files by ranges through [`LakeStore`]: a query of one
//! column fetches the footer and that column's pages, not the whole file.

use std::sync::Arc;
use std::time::Duration;

use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::Objects;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, UInt64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::DataFusionError;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use serde::Serialize;

use crate::lake::{self, Day};
use crate::lake_store::{objects_error_in, LakeStore, LAKE_URL};
use crate::pipeline::PRODUCTION;
use crate::{event, parquet_io, LakeError};

/// Rows of a table or a query, ready for JSON.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Rows {
    pub columns: Vec<String>,
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Whether rows were left out to keep within the row bound.
    pub truncated: bool,
}

/// The keys of the table's files of the days `from..=to`, in day order.
async fn production_keys(
    objects: &dyn Objects,
    table: &str,
    from: Day,
    to: Day,
) -> Result<Vec<String>, LakeError> {
    days_of(objects, &lake::production_prefix(table), from, to).await
}

/// The keys under `prefix` whose `day=` lies in `from..=to`, in key order.
async fn days_of(objects: &dyn Objects, prefix: &str, from: Day, to: Day) -> Result<Vec<String>, LakeError> {
    let mut keys: Vec<String> = objects
        .list(prefix)
        .await?
        .into_iter()
        .filter(|o| o.key.ends_with(".parquet"))
        .filter(|o| lake::day_of_key(&o.key).is_some_and(|day| day >= from && day <= to))
        .map(|o| o.key)
        .collect();
    keys.sort();
    Ok(keys)
}

/// The table's rows of the days `from..=to`, in day order (the dashboards'
/// tables: one small aggregate file a day, read whole).
pub async fn production(
    objects: &dyn Objects,
    table: &str,
    from: Day,
    to: Day,
) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    let mut schema = None;
    let mut batches = Vec::new();
    for key in production_keys(objects, table, from, to).await? {
        if let Some(data) = objects.get(&key).await? {
            let (file_schema, mut read) = parquet_io::read(data)?;
            schema.get_or_insert(file_schema);
            batches.append(&mut read);
        }
    }
    let schema = match schema {
        Some(schema) => schema,
        None => empty_schema(table).await?,
    };
    Ok((schema, batches))
}

/// A table with no file in the range: the events' own schema, or for a
/// production table the schema its SQL gives on no events.
async fn empty_schema(table: &str) -> Result<SchemaRef, LakeError> {
    if table == "events" {
        return Ok(event::schema());
    }
    let statement = PRODUCTION
        .iter()
        .find(|(name, _)| *name == table)
        .map(|(_, sql)| sql.replace("{day}", "1970-01-01"))
        .ok_or_else(|| LakeError::Failed(format!("no production table {table}")))?;
    let ctx = SessionContext::new();
    let empty = MemTable::try_new(event::schema(), vec![vec![]]).map_err(LakeError::query)?;
    ctx.register_table("events", Arc::new(empty)).map_err(LakeError::query)?;
    let frame = ctx.sql(&statement).await.map_err(LakeError::query)?;
    Ok(Arc::new(frame.schema().as_arrow().clone()))
}

/// Registers `name` as the Parquet files `keys` of the lake, read by ranges
/// through [`LakeStore`]; with no file, as an empty table.
async fn register_files(ctx: &SessionContext, name: &str, keys: &[String]) -> Result<(), LakeError> {
    if keys.is_empty() {
        let table = MemTable::try_new(empty_schema(name).await?, vec![vec![]]).map_err(LakeError::query)?;
        ctx.register_table(name, Arc::new(table)).map_err(LakeError::query)?;
        return Ok(());
    }
    let urls = keys
        .iter()
        .map(|key| ListingTableUrl::parse(format!("{LAKE_URL}/{key}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(LakeError::query)?;
    // The first read of a file fetches its last bytes, hoping the footer is
    // within; the lake's footers are a few KiB, not the default 512 KiB.
    let format = ParquetFormat::default().with_metadata_size_hint(Some(FOOTER_HINT));
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await
        .map_err(engine_error)?;
    let table = ListingTable::try_new(config).map_err(LakeError::query)?;
    ctx.register_table(name, Arc::new(table)).map_err(LakeError::query)?;
    Ok(())
}

/// An engine error: storage that failed under it (the caller answers 503),
/// else the query's own fault.
fn engine_error(error: DataFusionError) -> LakeError {
    match objects_error_in(&error) {
        Some(objects) => LakeError::Objects(objects),
        None => LakeError::BadQuery(error.to_string()),
    }
}

/// How much of a file's end the first read fetches for its footer.
const FOOTER_HINT: usize = 64 * 1024;

/// The bounds of an admin's query.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub timeout: Duration,
    pub max_rows: usize,
    /// Memory the query may use before it fails (sorts and joins spill to nothing).
    pub max_memory: usize,
}

/// Runs one read-only SQL statement over the production tables (one
/// relation each, named as the table) and the validated `events` of
/// `from..=to`. DDL, DML and `SET` are refused; the statement runs for at
/// most `bounds.timeout`; at most `bounds.max_rows` rows come back.
pub async fn run_sql(
    objects: Arc<dyn Objects>,
    statement: &str,
    from: Day,
    to: Day,
    bounds: Bounds,
) -> Result<Rows, LakeError> {
    let statements = DFParser::parse_sql(statement).map_err(|e| LakeError::BadQuery(e.to_string()))?;
    if statements.len() != 1 {
        return Err(LakeError::BadQuery(format!("send one statement, not {}", statements.len())));
    }
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(bounds.max_memory)))
        .build_arc()
        .map_err(LakeError::query)?;
    let ctx = SessionContext::new_with_config_rt(SessionConfig::new().with_target_partitions(2), runtime);
    let store = ObjectStoreUrl::parse(LAKE_URL).map_err(LakeError::query)?;
    ctx.register_object_store(store.as_ref(), Arc::new(LakeStore::new(objects.clone())));
    for (table, _) in PRODUCTION {
        let keys = production_keys(&*objects, table, from, to).await?;
        register_files(&ctx, table, &keys).await?;
    }
    let keys = days_of(&*objects, lake::VALIDATED_PREFIX, from, to).await?;
    register_files(&ctx, "events", &keys).await?;
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let work = async {
        let frame = ctx.sql_with_options(statement, options).await.map_err(engine_error)?;
        let frame = frame.limit(0, Some(bounds.max_rows + 1)).map_err(LakeError::query)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(engine_error)?;
        Ok::<_, LakeError>((schema, batches))
    };
    let (schema, batches) = tokio::time::timeout(bounds.timeout, work).await.map_err(|_| {
        LakeError::BadQuery(format!(
            "the query ran longer than {} ms: narrow the days or aggregate more",
            bounds.timeout.as_millis()
        ))
    })??;
    let mut rows = to_rows(&schema, &batches)?;
    if rows.rows.len() > bounds.max_rows {
        rows.rows.truncate(bounds.max_rows);
        rows.truncated = true;
    }
    Ok(rows)
}

/// The batches as JSON rows (numbers as numbers, the rest as text).
pub fn to_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Rows, LakeError> {
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    let options = FormatOptions::default();
    for batch in batches {
        let mut table: Vec<Vec<serde_json::Value>> =
            vec![Vec::with_capacity(batch.num_columns()); batch.num_rows()];
        for column in batch.columns() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options).map_err(LakeError::arrow)?;
            for (row, out) in table.iter_mut().enumerate() {
                out.push(cell(column.as_ref(), &formatter, row));
            }
        }
        rows.extend(table);
    }
    Ok(Rows { columns, rows, truncated: false })
}

fn cell(column: &dyn Array, formatter: &ArrayFormatter, row: usize) -> serde_json::Value {
    if column.is_null(row) {
        return serde_json::Value::Null;
    }
    match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float64 => serde_json::Number::from_f64(column.as_primitive::<Float64Type>().value(row))
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        DataType::Boolean => column.as_boolean().value(row).into(),
        _ => formatter.value(row).to_string().into(),
    }
}

/// Rows as CSV (RFC 4180: a header line, quoted where needed).
pub fn to_csv(rows: &Rows) -> String {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = rows.columns.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    for row in &rows.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|v| match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => field(s),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

//! Key/value cache for incremental decoding (SAT `CachedAutoregressiveMixin`).

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Keys and values of one layer for all positions seen so far, `[batch, heads, seq, head_dim]` each.
#[derive(Debug, Clone)]
pub struct LayerKv<B: Backend> {
    /// Keys.
    pub keys: Tensor<B, 4>,
    /// Values.
    pub values: Tensor<B, 4>,
}

/// Per-layer key/value cache. New keys and values are appended after the cached ones, in order.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<Option<LayerKv<B>>>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: (0..num_layers).map(|_| None).collect(),
        }
    }

    /// Cached positions (0 when empty).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |kv| kv.keys.dims()[2])
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batch size of the cached entries (`None` when empty).
    pub fn batch_size(&self) -> Option<usize> {
        self.layers.first().and_then(|l| l.as_ref()).map(|kv| kv.keys.dims()[0])
    }

    /// Repeats a batch-1 cache to `batch` rows (the official loop prefills once and then samples `batch` rows).
    pub fn expand_batch(&mut self, batch: usize) {
        for kv in self.layers.iter_mut().flatten() {
            if kv.keys.dims()[0] == 1 && batch > 1 {
                kv.keys = kv.keys.clone().repeat_dim(0, batch);
                kv.values = kv.values.clone().repeat_dim(0, batch);
            }
        }
    }

    /// Appends new keys/values of `layer` and returns the full keys/values to attend to.
    pub(crate) fn append(&mut self, layer: usize, keys: Tensor<B, 4>, values: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let entry = &mut self.layers[layer];
        let (keys, values) = match entry.take() {
            Some(old) => (
                Tensor::cat(vec![old.keys, keys], 2),
                Tensor::cat(vec![old.values, values], 2),
            ),
            None => (keys, values),
        };
        *entry = Some(LayerKv {
            keys: keys.clone(),
            values: values.clone(),
        });
        (keys, values)
    }
}

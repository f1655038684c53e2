"""Native TensorFlow (Keras) reference for bench/train-step.ts: the same U-Net as server/models/unet
(depth, filters doubled per level, 2 x conv3x3+ReLU per level, 2x2 max-pool, 2x nearest up-sampling + concat
skip, final 1x1 linear conv), trained with Adam on a masked BCE + L1 loss of the same shape as StarDist's.

Usage: python unet_keras.py --depth 3 --filters 32 --batch 4 --size 256 --out-channels 33 --steps 5 --predict 1024
Prints one JSON object on stdout.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def build(depth, filters, in_ch, out_ch):
    x = inp = tf.keras.Input((None, None, in_ch))
    skips = []
    for level in range(depth):
        f = filters * 2 ** level
        x = tf.keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = tf.keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = tf.keras.layers.MaxPooling2D(2)(x)
    fb = filters * 2 ** depth
    x = tf.keras.layers.Conv2D(fb, 3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(fb, 3, padding="same", activation="relu")(x)
    for level in reversed(range(depth)):
        f = filters * 2 ** level
        x = tf.keras.layers.UpSampling2D(2, interpolation="nearest")(x)
        x = tf.keras.layers.Concatenate()([skips[level], x])
        x = tf.keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = tf.keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
    out = tf.keras.layers.Conv2D(out_ch, 1)(x)
    return tf.keras.Model(inp, out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--in-channels", type=int, default=1)
    p.add_argument("--out-channels", type=int, default=33)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--predict", type=int, default=1024)
    p.add_argument("--predict-repeats", type=int, default=1, help="timed predictions after the warm-up; the median is reported")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = TensorFlow default)")
    a = p.parse_args()
    if a.threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    model = build(a.depth, a.filters, a.in_channels, a.out_channels)
    opt = tf.keras.optimizers.Adam(1e-3)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((a.batch, a.size, a.size, a.in_channels), dtype=np.float32))
    t = tf.constant(rng.uniform(size=(a.batch, a.size, a.size, a.out_channels)).astype(np.float32))
    w = tf.constant(np.ones((a.batch, a.size, a.size, 2), dtype=np.float32))

    @tf.function
    def step(x, t, w):
        with tf.GradientTape() as tape:
            y = model(x, training=True)
            z, p = y[..., :1], t[..., :1]
            bce = tf.nn.relu(z) - z * p + tf.math.log1p(tf.exp(-tf.abs(z)))
            lp = tf.reduce_sum(w[..., :1] * bce) / tf.maximum(tf.reduce_sum(w[..., :1]), 1.0)
            l1 = tf.reduce_mean(tf.abs(t[..., 1:] - y[..., 1:]), axis=-1, keepdims=True)
            ld = tf.reduce_sum(w[..., 1:] * l1) / tf.maximum(tf.reduce_sum(w[..., 1:]), 1e-6)
            loss = lp + 0.2 * ld
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables, strict=True))
        return loss

    step(x, t, w).numpy()  # trace + warm-up
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step(x, t, w).numpy()
        times.append(time.perf_counter() - t0)

    predict_ms = None
    predict_activated_ms = None
    if a.predict > 0:
        big = tf.constant(rng.standard_normal((1, a.predict, a.predict, a.in_channels), dtype=np.float32))

        def median_ms(fn):
            """Warm up once, then the median of --predict-repeats timed calls (output read back to numpy)."""
            fn(big).numpy()
            runs = []
            for _ in range(max(1, a.predict_repeats)):
                t0 = time.perf_counter()
                fn(big).numpy()
                runs.append(1000 * (time.perf_counter() - t0))
            return sorted(runs)[len(runs) // 2]

        # The same prediction with StarDist's activation (sigmoid probability, ReLU distances) as one map, which is
        # what sparsecell's model.predict gives its post-processing.
        def activated(v):
            y = model(v, training=False)
            return tf.concat([tf.sigmoid(y[..., :1]), tf.nn.relu(y[..., 1:])], -1)

        predict_ms = median_ms(tf.function(lambda v: model(v, training=False)))
        predict_activated_ms = median_ms(tf.function(activated))

    print(json.dumps({
        "tensorflow": tf.__version__,
        "threads": a.threads or "default",
        "cpus": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "stepMs": 1000 * float(np.median(times)),
        "stepMsAll": [1000 * v for v in times],
        "predictMs": predict_ms,
        "predictActivatedMs": predict_activated_ms,
        "params": int(model.count_params()),
    }))


if __name__ == "__main__":
    main()

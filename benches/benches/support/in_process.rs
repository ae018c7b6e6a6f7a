//! What the in-process key-core benches share: a fresh data directory beside the build (on the
//! same disk as a real one), opened as its account root, and `iters` calls spread over
//! [`CALLERS`] tasks on one runtime thread.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};

/// Concurrent callers of a measured loop: enough to fill the audit log's group commits.
pub(crate) const CALLERS: u64 = 64;

/// An opened key core and who calls it; the data directory goes with it.
pub(crate) struct Caller {
    pub(crate) core: KeyCore,
    pub(crate) who: Principal,
    pub(crate) ctx: RequestContext,
    _dir: tempfile::TempDir,
}

impl Caller {
    /// A new data directory, opened with `options`.
    pub(crate) fn new(options: Options) -> Arc<Self> {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let location = KeyCore::init(
            dir.path(),
            &InitOptions {
                region: "eu-west-1".into(),
                account_id: None,
                partition: "aws".into(),
            },
        )
        .unwrap();
        let core = KeyCore::open(dir.path(), options).unwrap();
        Arc::new(Self {
            core,
            who: Principal::account_root(&location.account_id),
            ctx: RequestContext::local("bench"),
            _dir: dir,
        })
    }
}

/// `iters` calls of `call`, spread over [`CALLERS`] tasks on `rt` (a current-thread runtime);
/// how long they took.
pub(crate) fn callers<F, Fut>(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    caller: &Arc<Caller>,
    call: F,
) -> Duration
where
    F: Fn(Arc<Caller>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..CALLERS)
            .map(|i| {
                let n = iters / CALLERS + u64::from(i < iters % CALLERS);
                let (caller, call) = (caller.clone(), call.clone());
                tokio::spawn(async move {
                    for _ in 0..n {
                        call(caller.clone()).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

fn main() {
    let pool = knotwork::Pool::builder().threads(2).build().unwrap();
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..10000 { let n = n.clone(); pool.spawn(move || { n.fetch_add(1, std::sync::atomic::Ordering::Relaxed); }).unwrap(); }
    fn fib(p: &knotwork::Pool, n: u64) -> u64 { if n < 2 { return n } let (a,b) = p.join(|| fib(p, n-1), || fib(p, n-2)).unwrap(); a+b }
    let t = std::time::Instant::now();
    println!("fib {}", fib(&pool, 25));
    println!("fib time {:?}", t.elapsed());
    let v = knotwork::block_on(async { knotwork::sleep(std::time::Duration::from_millis(10)).await; let t = knotwork::spawn_local(async { 5 }); t.await.unwrap() });
    println!("v {v}");
    let r = pool.run(|| knotwork::block_on(async { knotwork::sleep(std::time::Duration::from_millis(5)).await; 9 })).unwrap();
    println!("r {r}");
    pool.shutdown().unwrap();
    println!("count {}", n.load(std::sync::atomic::Ordering::Relaxed));
}

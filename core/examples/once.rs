fn main() {
    let mut spec = spinup::SetupSpec::default();
    spec.capture = vec!["/proc/self/mountinfo".into(), "/etc/hosts".into()];
    if std::env::args().nth(1).as_deref() == Some("exec") { spec.exec = true; }
    let mut r = spinup::Runner::new(&spec, &Default::default()).unwrap();
    println!("strategy {:?}", r.plan().overlay_strategy);
    for _ in 0..3 {
        match r.run_once() {
            Ok(rec) => {
                for p in spinup::Phase::ALL { if let Some(t) = rec.get(p) { println!("{:>12} {:>9} {:>9}", p.name(), t.wall, t.cpu); } }
                println!("{:>12} {:>9}", "total", rec.total().wall);
                for c in &rec.captures { println!("--- {}\n{}", c.path, String::from_utf8_lossy(c.content.as_ref().unwrap())); }
            }
            Err(e) => println!("error: {e}"),
        }
    }
}

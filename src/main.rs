fn main() {
    println!("helm-milvus-upgrade");
}

//! moto's ECS through the real SDK: clusters, task definitions and services, for the tests that
//! need something to be running.

pub struct MotoEcs {
    pub client: aws_sdk_ecs::Client,
    rt: tokio::runtime::Runtime,
}

impl MotoEcs {
    pub fn new(endpoint: &str) -> MotoEcs {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = super::sdk_config(&rt, endpoint);
        MotoEcs {
            client: aws_sdk_ecs::Client::new(&config),
            rt,
        }
    }

    /// A cluster with one service whose task definition runs `image` in a container named `container`.
    pub fn run(&self, cluster: &str, service: &str, container: &str, image: &str) -> String {
        use aws_sdk_ecs::types::ContainerDefinition;
        self.rt.block_on(async {
            self.client
                .create_cluster()
                .cluster_name(cluster)
                .send()
                .await
                .unwrap();
            let td = self
                .client
                .register_task_definition()
                .family(format!("{cluster}-{service}"))
                .container_definitions(
                    ContainerDefinition::builder()
                        .name(container)
                        .image(image)
                        .memory(128)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let arn = td
                .task_definition()
                .unwrap()
                .task_definition_arn()
                .unwrap()
                .to_string();
            self.client
                .create_service()
                .cluster(cluster)
                .service_name(service)
                .task_definition(&arn)
                .desired_count(1)
                .send()
                .await
                .unwrap();
            arn
        })
    }

    /// The image of the first container of the service's current task definition.
    pub fn image(&self, cluster: &str, service: &str) -> String {
        self.rt.block_on(async {
            let s = self
                .client
                .describe_services()
                .cluster(cluster)
                .services(service)
                .send()
                .await
                .unwrap();
            let arn = s.services()[0].task_definition().unwrap().to_string();
            let td = self
                .client
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .unwrap();
            td.task_definition().unwrap().container_definitions()[0]
                .image()
                .unwrap()
                .to_string()
        })
    }
}

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("repos", "0003_fork_approval_and_variables"),
    ]

    operations = [
        migrations.CreateModel(
            name="ServiceMapping",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="service id")),
                (
                    "address",
                    models.CharField(
                        help_text="HOST:PORT, or HOST:PORT,PORT for the service's ports in order",
                        max_length=300,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "repository",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="service_mappings",
                        to="repos.repository",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("repository", "name"), name="service_unique_name"
                    )
                ],
            },
        ),
    ]
